// A small Markdown renderer for model output that builds DOM nodes and never parses HTML:
// every piece of text becomes a text node, so `<img onerror=…>` in a reply is shown as written.
// Blocks: fenced code, headings, lists (nested), block quotes, rules, pipe tables, paragraphs.
// Inline: code spans, **strong**, *emphasis*, ~~strike~~, links (http, https and mailto only),
// backslash escapes. An unclosed fence (a reply still streaming) is code up to the end.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const TABLE_RULE = /^ *\|? *:?-+:? *(?:\| *:?-+:? *)*\|? *$/;
const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);

/** The Markdown `text` as a DocumentFragment of plain elements and text nodes. */
export function renderMarkdown(text) {
  const source = String(text ?? "");
  const fragment = document.createDocumentFragment();
  try {
    blocks(source.replace(/\r\n?/g, "\n").split("\n"), fragment);
  } catch (error) {
    // Never a blank reply: the text as it is, if the renderer ever fails on it.
    console.error("markdown:", error);
    fragment.replaceChildren(document.createTextNode(source));
  }
  return fragment;
}

function el(tag, ...children) {
  const node = document.createElement(tag);
  for (const child of children) node.append(child);
  return node;
}

function blocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    let m = FENCE.exec(line);
    if (m) {
      i = codeBlock(lines, i, m, parent);
      continue;
    }
    m = HEADING.exec(line);
    if (m) {
      parent.append(inline(m[2] || "", el(`h${m[1].length}`)));
      i++;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(el("hr"));
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && lines[i].trim() && QUOTE.test(lines[i])) {
        inner.push(QUOTE.exec(lines[i])[1]);
        i++;
      }
      const quote = el("blockquote");
      blocks(inner, quote);
      parent.append(quote);
      continue;
    }
    if (ITEM.test(line)) {
      i = list(lines, i, parent);
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      i = table(lines, i, parent);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) {
      para.push(lines[i].trim());
      i++;
    }
    if (!para.length) {  // a line that starts a block the loop above did not take
      para.push(lines[i].trim());
      i++;
    }
    const p = el("p");
    para.forEach((text, n) => {
      if (n) p.append(el("br"));
      inline(text, p);
    });
    parent.append(p);
  }
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    ITEM.test(line) ||
    (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]))
  );
}

function codeBlock(lines, i, match, parent) {
  const [, fence, language] = match;
  const indent = lines[i].length - lines[i].trimStart().length;
  const body = [];
  i++;
  while (i < lines.length) {
    const line = lines[i];
    const close = line.trim();
    if (close.startsWith(fence[0].repeat(fence.length)) && /^(`+|~+)$/.test(close)) {
      i++;
      break;
    }
    body.push(line.slice(Math.min(indent, line.length - line.trimStart().length)));
    i++;
  }
  const code = el("code", document.createTextNode(body.join("\n")));
  if (language && /^[\w+#.-]+$/.test(language)) {
    code.className = `language-${language}`;
    code.dataset.language = language;
  }
  parent.append(el("pre", code));
  return i;
}

function list(lines, i, parent) {
  const first = ITEM.exec(lines[i]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const node = el(ordered ? "ol" : "ul");
  if (ordered) {
    const start = parseInt(first[2], 10);
    if (start !== 1) node.start = start;
  }
  let loose = false;
  const items = [];
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
    const contentIndent = indent + m[2].length + 1;
    const body = [m[3] || ""];
    i++;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) {
        // A blank line continues the item only if an indented line follows.
        const next = lines[i + 1];
        if (next !== undefined && next.trim() && leading(next) >= contentIndent) {
          loose = true;
          body.push("");
          i++;
          continue;
        }
        break;
      }
      const sub = ITEM.exec(line);
      if (sub && sub[1].length <= indent) break;
      if (leading(line) < contentIndent && !sub && startsBlock(lines, i)) break;
      body.push(line.slice(Math.min(leading(line), contentIndent)));
      i++;
    }
    items.push(body);
    // A blank line between items: the list goes on if the next line is an item like these.
    if (i < lines.length && !lines[i].trim()) {
      const next = ITEM.exec(lines[i + 1] || "");
      if (next && next[1].length === indent && /\d/.test(next[2]) === ordered) {
        loose = true;
        i++;
      }
    }
  }
  for (const body of items) {
    const li = el("li");
    const holder = document.createDocumentFragment();
    blocks(body, holder);
    // A tight item is its text, not a paragraph.
    if (!loose && holder.firstChild && holder.firstChild.nodeName === "P") {
      const p = holder.firstChild;
      holder.removeChild(p);
      li.append(...p.childNodes);
    }
    li.append(holder);
    node.append(li);
  }
  parent.append(node);
  return i;
}

function leading(line) {
  return line.length - line.trimStart().length;
}

function cells(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  const out = [];
  let cell = "";
  for (let k = 0; k < row.length; k++) {
    if (row[k] === "\\" && row[k + 1] === "|") {
      cell += "|";
      k++;
    } else if (row[k] === "|") {
      out.push(cell.trim());
      cell = "";
    } else {
      cell += row[k];
    }
  }
  out.push(cell.trim());
  return out;
}

function table(lines, i, parent) {
  const head = cells(lines[i]);
  const aligns = cells(lines[i + 1]).map((c) =>
    c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : "",
  );
  i += 2;
  const row = (values, tag) => {
    const tr = el("tr");
    head.forEach((_, n) => {
      const cell = inline(values[n] || "", el(tag));
      if (aligns[n]) cell.classList.add(`align-${aligns[n]}`);
      tr.append(cell);
    });
    return tr;
  };
  const tbody = el("tbody");
  while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
    tbody.append(row(cells(lines[i]), "td"));
    i++;
  }
  const wrap = el("div", el("table", el("thead", row(head, "th")), tbody));
  wrap.className = "table-wrap";
  parent.append(wrap);
  return i;
}

/** Inline Markdown of `text` appended to `parent` (returned) as elements and text nodes;
 *  `links` false inside a link's label (no link in a link). */
function inline(text, parent, links = true) {
  let buffer = "";
  const flush = () => {
    if (buffer) parent.append(document.createTextNode(buffer));
    buffer = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && /[!-/:-@[-`{-~]/.test(text[i + 1])) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      let n = 1;
      while (text[i + n] === "`") n++;
      const ticks = "`".repeat(n);
      let end = text.indexOf(ticks, i + n);
      while (end !== -1 && text[end + n] === "`") end = text.indexOf(ticks, end + n + 1);
      if (end !== -1) {
        flush();
        let code = text.slice(i + n, end);
        if (/^ .*[^ ].* $/.test(code)) code = code.slice(1, -1);
        parent.append(el("code", document.createTextNode(code)));
        i = end + n;
        continue;
      }
      buffer += ticks;
      i += n;
      continue;
    }
    const pair = text.slice(i, i + 2);
    if (pair === "**" || pair === "__" || pair === "~~") {
      const end = closing(text, i + 2, pair);
      if (end !== -1) {
        flush();
        const tag = pair === "~~" ? "del" : "strong";
        parent.append(inline(text.slice(i + 2, end), el(tag), links));
        i = end + 2;
        continue;
      }
    }
    if ((c === "*" || c === "_") && text[i + 1] !== c && !(c === "_" && /\w/.test(text[i - 1] || ""))) {
      const end = closing(text, i + 1, c);
      if (end !== -1 && !(c === "_" && /\w/.test(text[end + 1] || ""))) {
        flush();
        parent.append(inline(text.slice(i + 1, end), el("em"), links));
        i = end + 1;
        continue;
      }
    }
    if (c === "[" && links) {
      const m = /^\[([^\]]*)\]\(\s*<?([^\s()<>]*)>?(?:\s+"[^"]*")?\s*\)/.exec(text.slice(i));
      if (m) {
        flush();
        parent.append(link(m[1], m[2]));
        i += m[0].length;
        continue;
      }
    }
    if (links && c === "h" && /^https?:\/\/[^\s<>"']+/.test(text.slice(i)) && !/\w/.test(text[i - 1] || "")) {
      let url = /^https?:\/\/[^\s<>"']+/.exec(text.slice(i))[0];
      url = url.replace(/[.,;:!?)\]]+$/, "");
      flush();
      parent.append(link(url, url));
      i += url.length;
      continue;
    }
    buffer += c;
    i++;
  }
  flush();
  return parent;
}

/** Where `marker` closes an inline span opened before `from` (-1: nowhere): the span is not
 *  empty and does not start or end with a space. */
function closing(text, from, marker) {
  if (from >= text.length || text[from] === " ") return -1;
  let k = from;
  while (k < text.length) {
    if (text[k] === "\\") {
      k += 2;
      continue;
    }
    if (text[k] === "`") {  // a code span inside: skip it whole
      const end = text.indexOf("`", k + 1);
      if (end === -1) return -1;
      k = end + 1;
      continue;
    }
    if (text.startsWith(marker, k) && k > from && text[k - 1] !== " ") {
      if (marker.length === 1 && text[k + 1] === marker) {
        k += 2;  // a double marker inside a single one: strong within emphasis
        continue;
      }
      return k;
    }
    k++;
  }
  return -1;
}

/** A link, only to http(s) or mailto: any other URL (javascript:, data:) stays text. */
function link(label, href) {
  let url = null;
  try {
    url = new URL(href, "http://invalid.invalid/");
  } catch {
    url = null;
  }
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(href);
  if (!url || !absolute || !SAFE_SCHEMES.has(url.protocol)) {
    return document.createTextNode(label === href ? href : `${label} (${href})`);
  }
  const a = el("a");
  inline(label, a, false);
  a.href = url.href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  return a;
}
