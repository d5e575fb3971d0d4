/** admission.k8s.io/v1 AdmissionReview: the parts the webhook reads and writes. */

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  userInfo: UserInfo;
  object?: Record<string, unknown> | null;
  oldObject?: Record<string, unknown> | null;
  dryRun?: boolean;
}

export interface AdmissionVerdict {
  allowed: boolean;
  /** Why a request is denied (shown to the user by kubectl). */
  message?: string;
  /** Findings of an Audit-mode policy: the request is allowed, the user is told. */
  warnings?: string[];
  code?: number;
  /** A mutating webhook's JSON patch (RFC 6902) to apply to the object. */
  patch?: { op: string; path: string; value?: unknown }[];
}

export const allow = (warnings?: string[]): AdmissionVerdict =>
  warnings && warnings.length > 0 ? { allowed: true, warnings } : { allowed: true };

export const deny = (message: string, code = 403): AdmissionVerdict => ({
  allowed: false,
  message,
  code,
});

export function reviewResponse(uid: string, verdict: AdmissionVerdict): Record<string, unknown> {
  const response: Record<string, unknown> = { uid, allowed: verdict.allowed };
  if (!verdict.allowed) {
    response.status = {
      code: verdict.code ?? 403,
      reason: "Forbidden",
      message: verdict.message ?? "denied",
    };
  }
  if (verdict.allowed && verdict.patch && verdict.patch.length > 0) {
    response.patchType = "JSONPatch";
    response.patch = Buffer.from(JSON.stringify(verdict.patch)).toString("base64");
  }
  if (verdict.warnings && verdict.warnings.length > 0) {
    // The API server caps warnings; keep each short and at most a handful.
    response.warnings = verdict.warnings.slice(0, 16).map((w) => w.slice(0, 256));
  }
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}

/** "Deployment ns/name" (or the generateName prefix for objects named by the server). */
export function describeObject(req: AdmissionRequest): string {
  const meta = (
    (req.object ?? req.oldObject ?? {}) as { metadata?: { name?: string; generateName?: string } }
  ).metadata;
  const name =
    req.name || meta?.name || (meta?.generateName ? `${meta.generateName}*` : "<unnamed>");
  return `${req.kind.kind} ${req.namespace ? `${req.namespace}/` : ""}${name}`;
}
