/**
 * Inspects a WebAssembly module without instantiating or running it: validity (V8's validator),
 * imports and exports read from the binary's sections under bounds checks.
 */

export interface WasmImport {
  readonly module: string;
  readonly name: string;
  readonly kind: WasmExternKind;
}

export interface WasmExport {
  readonly name: string;
  readonly kind: WasmExternKind;
}

export type WasmExternKind = "function" | "table" | "memory" | "global" | "tag" | "unknown";

export interface WasmInspection {
  readonly valid: boolean;
  /** Why the module is invalid, when it is. */
  readonly error?: string;
  readonly imports: readonly WasmImport[];
  readonly exports: readonly WasmExport[];
  readonly exportedFunctions: number;
}

const KINDS: readonly WasmExternKind[] = ["function", "table", "memory", "global", "tag"];
const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const SECTION_IMPORT = 2;
const SECTION_EXPORT = 7;
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Cursor {
  at = 0;
  readonly bytes: Uint8Array;
  readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.at = start;
    this.end = end;
  }

  byte(): number {
    if (this.at >= this.end) throw new Error("unexpected end of module");
    return this.bytes[this.at++] as number;
  }

  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) throw new Error("LEB128 value out of range");
        return result;
      }
    }
    throw new Error("LEB128 value too long");
  }

  take(length: number): Uint8Array {
    if (length > this.end - this.at) throw new Error("length runs past the section");
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  name(): string {
    return decoder.decode(this.take(this.u32()));
  }
}

function skipImportType(cursor: Cursor, kind: number): void {
  switch (kind) {
    case 0: // function: type index
      cursor.u32();
      return;
    case 1: // table: reftype + limits
      cursor.byte();
      skipLimits(cursor);
      return;
    case 2: // memory: limits
      skipLimits(cursor);
      return;
    case 3: // global: valtype + mutability (a valtype may be a multi-byte reference type)
      skipValueType(cursor);
      cursor.byte();
      return;
    case 4: // tag: attribute + type index
      cursor.byte();
      cursor.u32();
      return;
    default:
      throw new Error(`unknown import kind ${kind}`);
  }
}

function skipLimits(cursor: Cursor): void {
  const flags = cursor.byte();
  cursor.u32();
  if (flags & 0x01) cursor.u32();
}

function skipValueType(cursor: Cursor): void {
  const type = cursor.byte();
  // (ref null ht) / (ref ht) carry a heap type, itself a signed LEB128.
  if (type === 0x63 || type === 0x64) {
    while (cursor.byte() & 0x80) {
      /* consume LEB128 */
    }
  }
}

function parseSections(bytes: Uint8Array): { imports: WasmImport[]; exports: WasmExport[] } {
  const imports: WasmImport[] = [];
  const exports: WasmExport[] = [];
  const cursor = new Cursor(bytes, 8);
  while (cursor.at < cursor.end) {
    const id = cursor.byte();
    const size = cursor.u32();
    const body = new Cursor(bytes, cursor.at, cursor.at + size);
    cursor.take(size);
    if (id === SECTION_IMPORT) {
      const count = body.u32();
      for (let i = 0; i < count; i++) {
        const module = body.name();
        const name = body.name();
        const kind = body.byte();
        skipImportType(body, kind);
        imports.push({ module, name, kind: KINDS[kind] ?? "unknown" });
      }
    } else if (id === SECTION_EXPORT) {
      const count = body.u32();
      for (let i = 0; i < count; i++) {
        const name = body.name();
        const kind = body.byte();
        body.u32();
        exports.push({ name, kind: KINDS[kind] ?? "unknown" });
      }
    }
  }
  return { imports, exports };
}

/** Why `bytes` is not even shaped like a core WebAssembly binary (magic, version 1), if not. */
export function wasmHeaderProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    return "missing WebAssembly magic header";
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    return "not a WebAssembly core module (version 1)";
  }
  return undefined;
}

export function inspectWasm(bytes: Uint8Array): WasmInspection {
  const empty = { imports: [], exports: [], exportedFunctions: 0 };
  const headerProblem = wasmHeaderProblem(bytes);
  if (headerProblem !== undefined) return { valid: false, error: headerProblem, ...empty };
  if (!WebAssembly.validate(bytes)) {
    return { valid: false, error: describeInvalid(bytes), ...empty };
  }
  try {
    const { imports, exports } = parseSections(bytes);
    const exportedFunctions = exports.filter((e) => e.kind === "function").length;
    return { valid: true, imports, exports, exportedFunctions };
  } catch (error) {
    return { valid: false, error: (error as Error).message, ...empty };
  }
}

function describeInvalid(bytes: Uint8Array): string {
  try {
    new WebAssembly.Module(bytes);
    return "module failed validation";
  } catch (error) {
    return (error as Error).message.replace(/^WebAssembly\.Module\(\): /, "");
  }
}
