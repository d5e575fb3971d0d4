// The one libsodium binding the verifier uses (sodium-native ships no type declarations).
declare module "sodium-native" {
  export function crypto_sign_verify_detached(
    signature: Uint8Array,
    message: Uint8Array,
    publicKey: Uint8Array,
  ): boolean;
}
