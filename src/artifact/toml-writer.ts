/**
 * A TOML writer that lays a document out the way the reference's `toml::to_string_pretty` does
 * (plain values before sub-tables, header-less intermediate tables, one-element arrays inline,
 * longer ones one element per line, the same string-quoting choices), so that a manifest built
 * here is laid out like one built by the reference tool.
 * Input objects are written in their insertion order; callers order them.
 */

type Value = string | number | boolean | Value[] | { [key: string]: Value };
type Table = { [key: string]: Value };

const BARE_KEY = /^[A-Za-z0-9_-]+$/;
const FAST_STRING = /^[A-Za-z0-9_\-./ :]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we look for
const CONTROL_EXCEPT_TAB = /[\u0000-\u0008\u000a-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we look for
const CONTROL_EXCEPT_TAB_NL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

function isTable(value: Value): value is Table {
  return typeof value === "object" && !Array.isArray(value);
}

function isArrayOfTables(value: Value): value is Table[] {
  return Array.isArray(value) && value.length > 0 && value.every(isTable);
}

function escapeBasic(text: string, multiline: boolean): string {
  let out = "";
  let quoteRun = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    quoteRun = ch === '"' ? quoteRun + 1 : 0;
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += multiline && quoteRun <= 2 ? '"' : '\\"';
    else if (ch === "\b") out += "\\b";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\n") out += multiline ? "\n" : "\\n";
    else if (code < 0x20 || code === 0x7f)
      out += `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
    else out += ch;
  }
  return out;
}

export function tomlString(text: string): string {
  if (FAST_STRING.test(text)) return `"${text}"`;
  const hasNewline = text.includes("\n");
  const lead = hasNewline ? "\n" : "";
  if (!CONTROL_EXCEPT_TAB.test(text) && !text.includes("\\") && !text.includes('"'))
    return `"${text}"`;
  if (!CONTROL_EXCEPT_TAB.test(text) && !text.includes("'")) return `'${text}'`;
  if (!CONTROL_EXCEPT_TAB_NL.test(text) && !text.includes("\\") && !text.includes('"""')) {
    return `"""${lead}${text}"""`;
  }
  if (!CONTROL_EXCEPT_TAB_NL.test(text) && !text.includes("'''")) return `'''${lead}${text}'''`;
  return hasNewline ? `"""${lead}${escapeBasic(text, true)}"""` : `"${escapeBasic(text, false)}"`;
}

function tomlKey(key: string): string {
  if (BARE_KEY.test(key)) return key;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we look for
  const control = /[\u0000-\u001f\u007f]/.test(key);
  if (!control && !key.includes("\\") && !key.includes('"')) return `"${key}"`;
  if (!control && !key.includes("'")) return `'${key}'`;
  return `"${escapeBasic(key, false)}"`;
}

function inlineValue(value: Value): string {
  if (typeof value === "string") return tomlString(value);
  // Integers are exact only up to 2^53 (the parser enforces it); anything past that was a float.
  if (typeof value === "number")
    return Number.isSafeInteger(value) ? String(value) : floatText(value);
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(inlineValue).join(", ")}]`;
  const parts = Object.entries(value).map(([k, v]) => `${tomlKey(k)} = ${inlineValue(v)}`);
  return parts.length === 0 ? "{}" : `{ ${parts.join(", ")} }`;
}

/** A float as Rust's Display writes it: shortest round-trip digits, never an exponent. */
export function floatText(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (Object.is(value, -0)) return "-0.0";
  const text = expandExponent(String(value));
  return text.includes(".") ? text : `${text}.0`;
}

function expandExponent(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, whole = "", fraction = "", exponentText = "0"] = match;
  const digits = whole + fraction;
  const point = whole.length + Number(exponentText);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function plainValue(value: Value): string {
  if (Array.isArray(value) && value.length >= 2) {
    return `[\n${value.map((v) => `    ${inlineValue(v)},\n`).join("")}]`;
  }
  return inlineValue(value);
}

function writeTable(path: string[], table: Table, isArrayElement: boolean, out: string[]): void {
  const entries = Object.entries(table);
  const plain = entries.filter(([, v]) => !isTable(v) && !isArrayOfTables(v));
  const nested = entries.filter(([, v]) => isTable(v) || isArrayOfTables(v));
  const header = path.map(tomlKey).join(".");
  const lines: string[] = [];
  if (isArrayElement) lines.push(`[[${header}]]`);
  else if (path.length > 0 && (plain.length > 0 || entries.length === 0)) lines.push(`[${header}]`);
  for (const [key, value] of plain) lines.push(`${tomlKey(key)} = ${plainValue(value)}`);
  if (lines.length > 0) out.push(lines.join("\n"));
  for (const [key, value] of nested) {
    if (isArrayOfTables(value)) {
      for (const element of value) writeTable([...path, key], element, true, out);
    } else {
      writeTable([...path, key], value as Table, false, out);
    }
  }
}

export function stringifyToml(document: Table): string {
  const blocks: string[] = [];
  writeTable([], document, false, blocks);
  return `${blocks.join("\n\n")}\n`;
}
