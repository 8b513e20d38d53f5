// The `pangu` command: parses arguments and hands each subcommand to the library.
export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  process.stderr.write(`pangu: unknown command ${command ?? '(none)'}\n`);
  return 2;
}
