// The slice of the WebAssembly JS API the audit uses (Node provides it; TypeScript's
// declarations for it live in lib.dom, which this server-side project does not load).
declare namespace WebAssembly {
  function validate(bytes: BufferSource): boolean;
  class Module {
    constructor(bytes: BufferSource);
  }
}
type BufferSource = ArrayBufferView | ArrayBuffer;
