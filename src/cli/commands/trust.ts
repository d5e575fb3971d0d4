import { parseArgs } from "node:util";
import { addTrustedKey, removeTrust, trustStoreToDocument } from "../../trust/store.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { printJson, printLine } from "../output.ts";
import { loadStoreFile, saveStoreFile } from "../trust-options.ts";

export function trust(args: string[]): number {
  const [action, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: {
      "trust-store": { type: "string" },
      publisher: { type: "string" },
      key: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const path = values["trust-store"];
  if (path === undefined)
    throw new UsageError(`trust ${action ?? ""} requires --trust-store FILE`.replace("  ", " "));
  const store = loadStoreFile(path);
  switch (action) {
    case "list": {
      if (values.json) {
        printJson(trustStoreToDocument(store));
        return EXIT.OK;
      }
      for (const [publisher, keys] of store.trustedPublishers) {
        for (const key of keys) printLine(`allowlisted publisher=${publisher} key=${key}`);
      }
      for (const [publisher, key] of store.tofuPublishers)
        printLine(`tofu_pinned publisher=${publisher} key=${key}`);
      return EXIT.OK;
    }
    case "add": {
      if (values.publisher === undefined || values.key === undefined)
        throw new UsageError("trust add requires --publisher and --key");
      saveStoreFile(path, addTrustedKey(store, values.publisher, values.key));
      printLine(`trust.add publisher=${values.publisher.trim()} trust_store=${path}`);
      return EXIT.OK;
    }
    case "remove": {
      if (values.publisher === undefined) throw new UsageError("trust remove requires --publisher");
      saveStoreFile(path, removeTrust(store, values.publisher, values.key));
      printLine(`trust.remove publisher=${values.publisher.trim()} trust_store=${path}`);
      return EXIT.OK;
    }
    default:
      throw new UsageError(
        `unknown trust action ${JSON.stringify(action ?? "")}; expected list, add or remove`,
      );
  }
}
