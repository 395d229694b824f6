// A Modelfile typed in the page, as `/api/create`'s JSON fields. The server takes fields, not a
// Modelfile (store/modelfile.py is the CLI's parser): this reads the same commands the same way
// (case-insensitive, `#` comments, values in "…" or """…""" over several lines) into `from`,
// `system`, `template`, `renderer`, `parser`, `parameters`, `messages` and `license`. FROM names
// a model already on the server: a page cannot read files from disk, and ADAPTER needs one.

const INSTRUCTIONS = [
  "from", "license", "template", "system", "adapter", "parameter", "message", "renderer", "parser",
];
const ROLES = ["system", "user", "assistant"];

export class ModelfileError extends Error {
  constructor(message, line = 0) {
    super(line ? `Modelfile line ${line}: ${message}` : `Modelfile: ${message}`);
    this.name = "ModelfileError";
  }
}

function unquote(text) {
  if (text.startsWith('"""')) return text.length >= 6 && text.endsWith('"""') ? text.slice(3, -3) : null;
  if (text.startsWith('"')) return text.length >= 2 && text.endsWith('"') ? text.slice(1, -1) : null;
  return text;
}

/** The commands of a Modelfile: [{name, args, line}], names as Ollama's parser gives them. */
export function parseModelfile(text) {
  const lines = String(text).replace(/^\ufeff/, "").replace(/\r\n/g, "\n").split("\n");
  const commands = [];
  let i = 0;
  while (i < lines.length) {
    const lineNo = i + 1;
    const line = lines[i].replace(/^[ \t]+/, "");
    i++;
    if (!line || line.startsWith("#")) continue;
    const word = /^[A-Za-z]*/.exec(line)[0];
    let rest = line.slice(word.length);
    const instruction = word.toLowerCase();
    if (!INSTRUCTIONS.includes(instruction) || (rest && !/^[ \t]/.test(rest))) {
      throw new ModelfileError(`unknown command "${word || line.split(/\s/)[0]}"`, lineNo);
    }
    rest = rest.replace(/^[ \t]+/, "");
    let name = instruction;
    let label = word.toUpperCase();
    if (instruction === "parameter" || instruction === "message") {
      const m = (instruction === "parameter" ? /^([A-Za-z0-9_]+)(?:[ \t]+|$)/ : /^([A-Za-z]+)(?:[ \t]+|$)/).exec(rest);
      if (!m) throw new ModelfileError(`${label} needs a ${instruction === "parameter" ? "name" : "role"}`, lineNo);
      name = m[1].toLowerCase();
      rest = rest.slice(m[0].length);
      if (instruction === "message" && !ROLES.includes(m[1])) {
        throw new ModelfileError('a message role must be "system", "user" or "assistant"', lineNo);
      }
      label = `${label} ${name}`;
    }
    if (!rest.trim()) throw new ModelfileError(`${label} needs a value`, lineNo);
    let buffer = rest;
    let value = unquote(buffer.trim());
    while (value === null) {
      if (i === lines.length) {
        const quote = buffer.trimStart().startsWith('"""') ? '"""' : '"';
        throw new ModelfileError(`${label} has no closing ${quote}`, lineNo);
      }
      buffer += `\n${lines[i]}`;
      i++;
      value = unquote(buffer.trim());
    }
    commands.push({ instruction, name, value, line: lineNo });
  }
  return commands;
}

/** `/api/create`'s request for the model `model` made from the Modelfile `text`. */
export function createRequest(model, text) {
  const request = { model, stream: true };
  const parameters = {};
  const messages = [];
  const licenses = [];
  for (const { instruction, name, value, line } of parseModelfile(text)) {
    switch (instruction) {
      case "from":
        if (request.from !== undefined) throw new ModelfileError("only one FROM is possible here", line);
        if (/^(\.|\/|~|[A-Za-z]:\\)/.test(value) || /\.(gguf|bin|safetensors)$/i.test(value)) {
          throw new ModelfileError(
            "FROM must name a model on this server: the page cannot read files (use the CLI's create)",
            line,
          );
        }
        request.from = value;
        break;
      case "adapter":
        throw new ModelfileError("ADAPTER needs a file: use the CLI's create", line);
      case "system":
        request.system = value;
        break;
      case "template":
      case "renderer":
      case "parser":
        request[instruction] = value;
        break;
      case "license":
        licenses.push(value);
        break;
      case "message":
        messages.push({ role: name, content: value });
        break;
      case "parameter":
        if (name === "stop") (parameters.stop ||= []).push(value);
        else parameters[name] = value; // the server types and checks it
        break;
    }
  }
  if (request.from === undefined) throw new ModelfileError("no FROM line");
  if (Object.keys(parameters).length) request.parameters = parameters;
  if (messages.length) request.messages = messages;
  if (licenses.length) request.license = licenses.length === 1 ? licenses[0] : licenses;
  return request;
}
