import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.ts';

/** Builds the `lifeboat` command tree. Each command lives in its own file under cli/commands/. */
export function buildProgram(): Command {
  const program = new Command('lifeboat')
    .description('Disaster recovery for virtual machines, from declarative runbooks')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI and resolves to the process exit code (see cli/exit-codes.ts). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`lifeboat: ${message}\n`);
    return 1;
  }
}
