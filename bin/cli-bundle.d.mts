/** The CLI bundle's entry file under `dir` (default ROOT/dist/cli) if it was built from the files now under `root`. */
export function bundleEntry(root: string, dir?: string): string | undefined;
