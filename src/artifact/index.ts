// The artifact library's public surface: the CLI and the controller import from here.
export * from "./attestations.ts";
export * from "./audit.ts";
export * from "./build.ts";
export * from "./canonical-manifest.ts";
export * from "./derived.ts";
export * from "./ed25519.ts";
export * from "./errors.ts";
export * from "./limits.ts";
export * from "./manifest.ts";
export * from "./paths.ts";
export * from "./payload.ts";
export * from "./signature.ts";
export * from "./verify.ts";
export * from "./wasm.ts";
export * from "./zip-reader.ts";
export * from "./zip-writer.ts";
