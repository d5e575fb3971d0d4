/**
 * ConfigMap and Secret sources for air-gapped clusters. Freshness comes from metadata-only
 * informers (a resourceVersion check costs nothing); the bytes are read with one GET when the
 * version moved, and the size cap is checked on the encoded length before anything is decoded.
 */

import { KubeApiError, type KubeClient } from "../kube/client.ts";
import type { Informer, KubeObject } from "../kube/informer.ts";
import type { ObjectSourceReader } from "./artifact-loader.ts";
import { SourceError } from "./errors.ts";

interface DataObject {
  metadata: { resourceVersion?: string };
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export class KubeObjectSource implements ObjectSourceReader {
  #client: KubeClient;
  #configMaps: Informer<KubeObject> | undefined;
  #secrets: Informer<KubeObject> | undefined;

  constructor(
    client: KubeClient,
    informers: { configMaps?: Informer<KubeObject>; secrets?: Informer<KubeObject> },
  ) {
    this.#client = client;
    this.#configMaps = informers.configMaps;
    this.#secrets = informers.secrets;
  }

  version(kind: "configMap" | "secret", namespace: string, name: string): string | undefined {
    const informer = kind === "configMap" ? this.#configMaps : this.#secrets;
    return informer?.get(`${namespace}/${name}`)?.metadata.resourceVersion;
  }

  async read(
    kind: "configMap" | "secret",
    namespace: string,
    name: string,
    key: string,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; resourceVersion: string }> {
    const what = `${kind === "configMap" ? "ConfigMap" : "Secret"} ${namespace}/${name}`;
    if (kind === "secret" && !this.#secrets) {
      throw new SourceError(
        "SOURCE_UNSUPPORTED",
        `Secret sources are disabled in this operator (${what})`,
      );
    }
    let object: DataObject;
    try {
      object = await this.#client.request<DataObject>(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/${kind === "configMap" ? "configmaps" : "secrets"}/${encodeURIComponent(name)}`,
        { timeoutMs: 30_000 },
      );
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) {
        throw new SourceError("SOURCE_NOT_FOUND", `${what} does not exist`);
      }
      if (error instanceof KubeApiError && error.status === 403) {
        throw new SourceError(
          "SOURCE_UNREACHABLE",
          `${what} cannot be read: ${error.message}`,
          true,
        );
      }
      throw new SourceError(
        "SOURCE_UNREACHABLE",
        `${what} could not be read: ${error instanceof Error ? error.message : String(error)}`,
        true,
      );
    }
    const encoded = kind === "configMap" ? object.binaryData?.[key] : object.data?.[key];
    if (encoded === undefined) {
      const inText = kind === "configMap" && object.data?.[key] !== undefined;
      throw new SourceError(
        "SOURCE_INVALID",
        inText
          ? `${what} holds key ${key} in data (text); an artifact is binary and must be in binaryData`
          : `${what} has no key ${key} in ${kind === "configMap" ? "binaryData" : "data"}`,
      );
    }
    // base64 is 4 characters per 3 bytes: reject before decoding a huge value.
    if (Math.floor((encoded.length * 3) / 4) > maxBytes + 3) {
      throw new SourceError(
        "SOURCE_TOO_LARGE",
        `${what} key ${key} exceeds the artifact limit of ${maxBytes} bytes`,
      );
    }
    const bytes = Buffer.from(encoded, "base64");
    if (bytes.length > maxBytes) {
      throw new SourceError(
        "SOURCE_TOO_LARGE",
        `${what} key ${key} exceeds the artifact limit of ${maxBytes} bytes`,
      );
    }
    return { bytes, resourceVersion: object.metadata.resourceVersion ?? "" };
  }
}
