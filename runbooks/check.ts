/**
 * Checks across fields: dependencies, cycles, duplicates, networks, roles and operators,
 * replication against the RPO and approval time against the RTO. They read the raw document
 * through a forgiving view (check-view.ts), so they run (and report) even when the shape has
 * errors, and they never throw whatever the input.
 */
import { checkApprovalTime, checkCycles, checkDependencies } from './check-graph.ts';
import {
  type Add,
  durationMs,
  type GroupView,
  list,
  type Obj,
  obj,
  own,
  stepsOf,
  str,
} from './check-view.ts';
import { DEFAULTS } from './defaults.ts';
import { formatDuration } from './durations.ts';
import { didYouMean, type Finding } from './findings.ts';
import { findingAt, type ParsedRunbook, type Path } from './parse.ts';

export function checkSemantics(parsed: ParsedRunbook): Finding[] {
  const findings: Finding[] = [];
  const root = obj(parsed.value);
  if (!root) return findings;
  const add: Add = (path, f) => {
    findings.push(findingAt(parsed, path, f));
  };

  const groups: GroupView[] = list(own(root, 'groups')).map((raw, index) => {
    const g = obj(raw) ?? {};
    const dependsOn: GroupView['dependsOn'] = [];
    list(own(g, 'dependsOn')).forEach((d, i) => {
      if (typeof d === 'string') dependsOn.push({ name: d, index: i });
    });
    const view: GroupView = { index, dependsOn, steps: stepsOf(g, index) };
    const name = str(own(g, 'name'));
    if (name !== undefined) view.name = name;
    return view;
  });

  checkGroups(root, groups, add);
  const byName = new Map<string, GroupView>();
  for (const g of groups) if (g.name !== undefined && !byName.has(g.name)) byName.set(g.name, g);
  checkDependencies(groups, byName, add);
  const cyclic = checkCycles(groups, byName, add);
  checkPeople(root, groups, add);
  checkNetworks(root, add);
  checkObjectives(root, add);
  checkDataCommands(root, add);
  if (!cyclic) checkApprovalTime(root, groups, byName, add);
  return findings;
}

function checkGroups(root: Obj, groups: GroupView[], add: Add): void {
  const seenGroup = new Map<string, number>();
  const seenVm = new Map<string, string>();
  for (const g of groups) {
    if (g.name !== undefined) {
      const first = seenGroup.get(g.name);
      if (first !== undefined) {
        add(['groups', g.index, 'name'], {
          code: 'duplicate-group',
          message: `group '${g.name}' is defined twice`,
          hint: `the first is groups[${first}]; give each group its own name`,
        });
      } else seenGroup.set(g.name, g.index);
    }
    const raw = obj(list(own(root, 'groups'))[g.index]);
    const vms = own(raw, 'vms');
    if (Array.isArray(vms) && vms.length === 0) {
      add(['groups', g.index, 'vms'], {
        code: 'empty-group',
        message: `group '${g.name ?? g.index}' has no VMs`,
        hint: 'list at least one VM, or remove the group',
      });
    }
    list(vms).forEach((vm, i) => {
      if (typeof vm !== 'string') return;
      const other = seenVm.get(vm);
      if (other !== undefined) {
        add(['groups', g.index, 'vms', i], {
          code: 'duplicate-vm',
          message:
            other === (g.name ?? String(g.index))
              ? `VM '${vm}' is listed twice in group '${other}'`
              : `VM '${vm}' is in two groups: '${other}' and '${g.name ?? g.index}'`,
          hint: 'a VM comes back once; keep it in one group',
        });
      } else seenVm.set(vm, g.name ?? String(g.index));
    });
  }
}

function checkPeople(root: Obj, groups: GroupView[], add: Add): void {
  const operators = obj(own(root, 'operators')) ?? {};
  const roles = obj(own(root, 'roles')) ?? {};
  const operatorNames = Object.keys(operators);
  for (const [role, members] of Object.entries(roles)) {
    if (!Array.isArray(members)) continue;
    if (members.length === 0) {
      add(['roles', role], {
        code: 'role-without-operators',
        message: `role '${role}' has no operators`,
        hint: 'list the operators who may approve its gates',
      });
    }
    members.forEach((m, i) => {
      if (typeof m !== 'string' || Object.hasOwn(operators, m)) return;
      const guess = didYouMean(m, operatorNames);
      add(['roles', role, i], {
        code: 'unknown-operator',
        message: `role '${role}' names operator '${m}', who is not declared`,
        hint: guess ? `did you mean '${guess}'?` : `declare operators.${m}.key`,
      });
    });
  }
  const roleNames = Object.keys(roles);
  const administrators = own(root, 'administrators');
  list(administrators).forEach((r, i) => {
    if (typeof r !== 'string' || Object.hasOwn(roles, r)) return;
    const guess = didYouMean(r, roleNames);
    add(['administrators', i], {
      code: 'unknown-role',
      message: `administrators names role '${r}', which is not declared`,
      hint: guess ? `did you mean '${guess}'?` : `declare roles.${r}: [<operator>]`,
    });
  });
  for (const g of groups) {
    for (const s of g.steps) {
      if (s.kind !== 'approval' || s.role === undefined || Object.hasOwn(roles, s.role)) continue;
      const guess = didYouMean(s.role, roleNames);
      add([...s.path, 'role'], {
        code: 'unknown-role',
        message: `approval names role '${s.role}', which is not declared`,
        hint: guess ? `did you mean '${guess}'?` : `declare roles.${s.role}: [<operator>]`,
      });
    }
  }
}

function checkNetworks(root: Obj, add: Add): void {
  const sites = obj(own(root, 'sites'));
  const primary = obj(own(sites, 'primary'));
  const secondary = obj(own(sites, 'secondary'));
  const drill = obj(own(root, 'drill'));
  const failover = obj(own(root, 'failover'));
  const drillNet = str(own(drill, 'network')) ?? DEFAULTS.drillNetwork;
  const prodNet = str(own(failover, 'network')) ?? DEFAULTS.failoverNetwork;
  const need = (
    site: Obj | undefined,
    role: 'primary' | 'secondary',
    net: string,
    usedAt: Path,
    why: string,
  ) => {
    if (!site) return;
    const networks = obj(own(site, 'networks'));
    if (networks && Object.hasOwn(networks, net)) return;
    const explicit = usedAt.length > 0;
    add(explicit ? usedAt : networks ? ['sites', role, 'networks'] : ['sites', role], {
      code: 'unmapped-network',
      message: `network role '${net}' (${why}) is not mapped on the ${role} site`,
      hint: `add sites.${role}.networks.${net}: <network name>`,
    });
  };
  need(
    secondary,
    'secondary',
    drillNet,
    own(drill, 'network') === undefined ? [] : ['drill', 'network'],
    'drills',
  );
  const prodAt: Path = own(failover, 'network') === undefined ? [] : ['failover', 'network'];
  need(secondary, 'secondary', prodNet, prodAt, 'failover');
  need(primary, 'primary', prodNet, prodAt, 'failback');
  const pName = str(own(primary, 'name')) ?? 'primary';
  const sName = str(own(secondary, 'name')) ?? 'secondary';
  if (primary && secondary && pName === sName) {
    add(
      own(secondary, 'name') === undefined ? ['sites', 'primary', 'name'] : ['sites', 'secondary', 'name'],
      {
        code: 'duplicate-site-name',
        message: `both sites are named '${sName}'`,
        hint: 'each site needs its own name: it names its worker task queue',
      },
    );
  }
}

function checkObjectives(root: Obj, add: Add): void {
  const rpo = durationMs(own(obj(own(root, 'objectives')), 'rpo'));
  const every = durationMs(own(obj(own(root, 'replication')), 'every'));
  if (rpo === undefined || every === undefined) return;
  if (every > rpo) {
    add(['replication', 'every'], {
      code: 'replication-exceeds-rpo',
      message: `replication every ${formatDuration(every)} cannot meet an RPO of ${formatDuration(rpo)}`,
      hint: `replicate at most every ${formatDuration(Math.floor(rpo / 2))}`,
    });
  } else if (every > rpo / 2) {
    add(['replication', 'every'], {
      severity: 'warning',
      code: 'replication-near-rpo',
      message: `replication every ${formatDuration(every)} is more than half the RPO of ${formatDuration(rpo)}`,
      hint: 'one slow or failed cycle would breach the RPO; replicate at most every half RPO',
    });
  }
}

/**
 * A `data` command runs in the guest's fsfreeze hook, so only points taken with the guest frozen
 * (application consistency) can record its output: with crash consistency nothing would run it.
 */
function checkDataCommands(root: Obj, add: Add): void {
  const consistency = str(own(obj(own(root, 'replication')), 'consistency')) ?? DEFAULTS.consistency;
  if (consistency !== 'crash') return;
  list(own(root, 'groups')).forEach((g, gi) => {
    list(own(obj(g), 'checks')).forEach((c, ci) => {
      if (own(obj(own(obj(c), 'data')), 'command') === undefined) return;
      add(['groups', gi, 'checks', ci, 'data', 'command'], {
        code: 'data-command-needs-application',
        message: `a data check with a command needs replication.consistency: application (it is ${consistency})`,
        hint: 'the command runs in the guest while it is frozen for the snapshot; crash-consistent points never freeze it',
      });
    });
  });
}
