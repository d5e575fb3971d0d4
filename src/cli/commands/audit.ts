import { parseArgs } from "node:util";
import { auditArtifact } from "../../artifact/audit.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { kv, printJson, printLine } from "../output.ts";
import { positiveInteger, RUNTIME_FLAGS } from "../runtime-options.ts";
import { TRUST_FLAGS, verifyWithFlags } from "../trust-options.ts";

export async function audit(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...TRUST_FLAGS,
      ...RUNTIME_FLAGS,
      "max-module-bytes": { type: "string" },
      "max-exported-functions": { type: "string" },
      "allow-wildcard-capabilities": { type: "boolean", default: false },
      "allow-device-capabilities": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError("audit takes exactly one ARTIFACT");
  const path = positionals[0] as string;
  const maxModuleBytes = positiveInteger(values["max-module-bytes"], "--max-module-bytes");
  const maxExported = positiveInteger(values["max-exported-functions"], "--max-exported-functions");
  const verified = await verifyWithFlags(path, values);
  const hook = process.env.PALYRA_SKILL_AUDIT_VULN_FEED_HOOK;
  const report = auditArtifact(verified, {
    policy: {
      ...(maxModuleBytes === undefined ? {} : { max_module_bytes: maxModuleBytes }),
      ...(maxExported === undefined ? {} : { max_exported_functions: maxExported }),
      allow_wildcard_capabilities: values["allow-wildcard-capabilities"],
      allow_device_capabilities: values["allow-device-capabilities"],
    },
    ...(hook === undefined ? {} : { vulnerabilityFeedHook: hook }),
  });
  if (values.json) printJson(report);
  else {
    printLine(
      kv("skill.audit", {
        skill_id: report.skill_id,
        version: report.version,
        artifact: path,
        passed: report.passed,
        should_quarantine: report.should_quarantine,
        failed_checks: report.checks.filter((c) => c.status === "fail").length,
        warnings: report.checks.filter((c) => c.status === "warn").length,
      }),
    );
    // Name what failed or warned: a count alone sends the user to --json.
    for (const c of report.checks) {
      if (c.status === "fail" || c.status === "warn") {
        printLine(`skill.audit.${c.status} ${c.check_id}: ${c.message}`);
      }
    }
    if (report.should_quarantine)
      printLine(`skill.audit.quarantine_reasons ${report.quarantine_reasons.join(" | ")}`);
  }
  return report.should_quarantine ? EXIT.QUARANTINE : EXIT.OK;
}
