/**
 * `--help` or `-h` among the arguments: prints the command's usage to stdout and exits 0, before
 * any other flag is parsed (so `--help` beside a wrong flag still helps).
 */
export function answerHelp(usage: string, args: readonly string[] = process.argv.slice(2)): void {
  if (!args.includes('--help') && !args.includes('-h')) return
  console.log(usage.trim())
  process.exit(0)
}
