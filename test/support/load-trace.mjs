// Loaded with `node --import` into a CLI process under test: at exit, writes the URL of every
// module the process loaded (ES modules and require()d files alike), one per line, to the file
// PALYRA_LOAD_TRACE names.
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";

const loaded = [];
registerHooks({
  load(url, context, next) {
    loaded.push(url);
    return next(url, context);
  },
});
process.on("exit", () => writeFileSync(process.env.PALYRA_LOAD_TRACE, `${loaded.join("\n")}\n`));
