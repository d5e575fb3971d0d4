/**
 * Ownership for what the operator creates outside the chart's manifests (its webhook
 * configuration and Secret, its Reports): an ownerReference to a cluster-scoped object the
 * chart installs (its ClusterRole), so that uninstalling the chart lets the garbage collector
 * remove them too — a fail-closed webhook configuration must not outlive its operator.
 */

import type { KubeRequester } from "./client.ts";

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export async function clusterRoleOwner(
  client: KubeRequester,
  name: string,
): Promise<OwnerReference> {
  const role = await client.request<{ metadata: { uid?: string; name?: string } }>(
    `/apis/rbac.authorization.k8s.io/v1/clusterroles/${encodeURIComponent(name)}`,
  );
  if (!role.metadata.uid) throw new Error(`ClusterRole ${name} has no uid`);
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    name,
    uid: role.metadata.uid,
  };
}

/** ownerReferences for a new object: none, or the one owner (never blocking its deletion). */
export function ownedBy(owner: OwnerReference | undefined): { ownerReferences?: OwnerReference[] } {
  return owner ? { ownerReferences: [owner] } : {};
}
