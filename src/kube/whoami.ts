/** Who the API server says this client is (a SelfSubjectReview, which every identity may create). */

import type { KubeRequester } from "./client.ts";

export async function whoAmI(client: KubeRequester): Promise<string> {
  const review = await client.request<{ status?: { userInfo?: { username?: string } } }>(
    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    {
      method: "POST",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      timeoutMs: 10_000,
    },
  );
  const name = review.status?.userInfo?.username;
  if (!name) throw new Error("the API server did not say who this client is (SelfSubjectReview)");
  return name;
}
