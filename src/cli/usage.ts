/**
 * Every command's usage line, kept apart from the commands themselves: `--help` and the
 * top-level usage print these without loading any command (main.ts imports a command's module
 * only to run it).
 */

export const CLUSTER_USAGE =
  "[-n NAMESPACE] [--context NAME] [--kubeconfig FILE] [--as USER [--as-group GROUP]...] [-o table|json|yaml]";

const AUTH_FLAGS = "[--docker-config F | --username U --password-stdin] [--ca-file F] [--json]";

export const USAGE = {
  keygen: "palyra-skill keygen --output KEYFILE [--force] [--json]   (also writes KEYFILE.pub)",
  build:
    "palyra-skill build --manifest F --module F [--module F]... [--asset F]... --sbom F --provenance F " +
    "(--signing-key-file F | --signing-key-stdin) [--expect-key-id ed25519:HEX16] --output F [--force] [--signed-at-unix-ms N] [--json]",
  verify:
    "palyra-skill verify ARTIFACT [--trust-store FILE] [--trusted-publisher PUBLISHER=HEXKEY]... [--allow-tofu] [--init-trust-store] " +
    "[--runtime-version X.Y.Z] [--runtime-protocol-major N] [--json]\n" +
    "  palyra-skill verify ARTIFACT --cluster [--policy NAME] [-n NAMESPACE] [--context NAME] [--kubeconfig FILE] [--json]",
  audit:
    "palyra-skill audit ARTIFACT [--trust-store FILE] [--trusted-publisher PUBLISHER=HEXKEY]... " +
    "[--allow-tofu] [--init-trust-store] [--runtime-version X.Y.Z] [--runtime-protocol-major N] " +
    "[--max-module-bytes N] [--max-exported-functions N] " +
    "[--allow-wildcard-capabilities] [--allow-device-capabilities] [--json]",
  inspect: "palyra-skill inspect ARTIFACT [--json]",
  trust:
    "palyra-skill trust list --trust-store FILE [--json]\n" +
    "  palyra-skill trust add --trust-store FILE --publisher P --key HEX [--json]\n" +
    "  palyra-skill trust remove --trust-store FILE --publisher P [--key HEX] [--json]",
  install:
    "palyra-skill install (--file ARTIFACT | --from OPERATOR_URL --token-file F [--ca-file F | --ca-env VAR]) --skill-id ID --payload-sha256 HEX --key HEX [--sha256 HEX] --dir DIR [--json]\n" +
    "  palyra-skill install --from OPERATOR_URL --token-file F [--ca-file F | --ca-env VAR] --expect ID,ARTIFACT_SHA256,PAYLOAD_SHA256,KEY... --dir DIR [--json]",
  push: `palyra-skill push ARTIFACT REGISTRY/REPOSITORY:TAG ${AUTH_FLAGS}`,
  pull: `palyra-skill pull REGISTRY/REPOSITORY(:TAG|@sha256:HEX) -o FILE [--force] ${AUTH_FLAGS}`,
  // On a cluster (also as `kubectl palyra-skill ...`):
  status: `palyra-skill status SKILL ${CLUSTER_USAGE}`,
  approve: `palyra-skill approve SKILL [--reason TEXT] [--yes] ${CLUSTER_USAGE}`,
  quarantine: `palyra-skill quarantine SKILL ${CLUSTER_USAGE}`,
  enable: `palyra-skill enable SKILL ${CLUSTER_USAGE}`,
  pins: `palyra-skill pins [--policy NAME] ${CLUSTER_USAGE}`,
} as const;

export type CommandName = keyof typeof USAGE;
