// Small helpers shared by the views: elements, numbers as people read them, the error banner.

/** An element with properties (`class`, `text`, attributes, `on…` listeners) and children. */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** "in 4 min", "in 12 s", "forever" for an expiry time. */
export function untilText(iso) {
  const when = Date.parse(iso);
  if (!Number.isFinite(when)) return "";
  const seconds = (when - Date.now()) / 1000;
  if (seconds > 10 * 365 * 86400) return "never (kept loaded)";
  if (seconds <= 0) return "now";
  if (seconds < 90) return `in ${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `in ${Math.round(seconds / 3600)} h`;
  return `in ${Math.round(seconds / 86400)} days`;
}

/** Show an error (its text as the server wrote it) at the top of the page. */
export function showError(error) {
  const text = typeof error === "string" ? error : error?.message || String(error);
  const banner = document.getElementById("banner");
  document.getElementById("banner-text").textContent = text;
  banner.hidden = false;
}

export function clearError() {
  document.getElementById("banner").hidden = true;
}

/** Read a File as base64 (what `images` takes), without the data: URL prefix. */
export function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error || new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

/** The image type of base64 data, for a data: URL preview. */
export function imageType(base64) {
  if (base64.startsWith("iVBOR")) return "image/png";
  if (base64.startsWith("/9j/")) return "image/jpeg";
  if (base64.startsWith("R0lG")) return "image/gif";
  if (base64.startsWith("UklGR")) return "image/webp";
  if (base64.startsWith("Qk")) return "image/bmp";
  return "application/octet-stream";
}

/** Save `data` as a JSON file download. */
export function downloadJSON(name, data) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
