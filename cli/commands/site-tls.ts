import type { Command } from 'commander';
import { safeNameSchema } from '../../replication/manifest.ts';
import { issueSiteTls } from '../../replication/tls.ts';
import { ExitCode } from '../exit-codes.ts';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * `lifeboat site-tls <site> --address <addr>... --authority <dir> --out <dir>`: what an operator
 * runs once per site, on the machine that keeps the deployment's CA key, to give a site worker
 * its replication TLS material (mutual TLS between sites, and the transfer key both hold).
 */
export function registerSiteTls(program: Command): void {
  program
    .command('site-tls')
    .description(
      "issue a site worker's replication TLS material: CA certificate, site key and certificate, transfer key",
    )
    .argument('<site>', 'site name, as in the runbooks (its queue is site-<name>)')
    .requiredOption(
      '--address <ip-or-dns>',
      'an address the site serves transfers on, named in its certificate (repeat for several)',
      collect,
      [],
    )
    .requiredOption(
      '--authority <dir>',
      "the deployment's CA directory (made on first use; keep it off the sites)",
    )
    .requiredOption('--out <dir>', 'directory to hand to the site (its LIFEBOAT_REPLICATION_TLS_DIR)')
    .action(async (site: string, flags: { address: string[]; authority: string; out: string }) => {
      if (!safeNameSchema.safeParse(site).success) {
        process.stderr.write(
          `lifeboat: site name ${JSON.stringify(site)} is not a safe name (letters, digits, - and _)\n`,
        );
        process.exitCode = ExitCode.usage;
        return;
      }
      if (flags.address.length === 0) {
        process.stderr.write('lifeboat: give at least one --address the site serves transfers on\n');
        process.exitCode = ExitCode.usage;
        return;
      }
      const files = await issueSiteTls(flags.authority, site, flags.address, flags.out);
      process.stdout.write(
        [
          `site ${site}: replication TLS material in ${flags.out}`,
          `  CA certificate   ${files.ca}`,
          `  site certificate ${files.cert} (names ${flags.address.join(', ')})`,
          `  site key         ${files.key} (0600)`,
          `  transfer key     ${files.transferKey} (0600, the same for every site)`,
          'install the directory on the site (owner the worker, mode 0700) and set in its env file:',
          `  LIFEBOAT_REPLICATION_TLS_DIR=<that directory>`,
          `  LIFEBOAT_REPLICATION_LISTEN=${flags.address[0]}:7443`,
          '',
        ].join('\n'),
      );
    });
}
