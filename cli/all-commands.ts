// Every command of the CLI, in the groups the top-level help shows.
import type { Command } from './command.js';
import { createAccount, resetPassword } from './commands/admin.js';
import { initKey } from './commands/admin-key.js';
import { backup, restore, verify } from './commands/admin-ops.js';
import { appsCreate, appsShow, appsUpload } from './commands/apps.js';
import { login, logout, tokenSet, whoami } from './commands/auth.js';
import { batchesList, cancel, errors, results, status, wait } from './commands/batches.js';
import { appsRetire, archive, pin, retry } from './commands/repair.js';
import { projectsCreate, projectsCreditCap, projectsList, projectsPause, projectsPriorityCap, projectsResume } from './commands/projects.js';
import { submit } from './commands/submit.js';

export const GROUPS: { title: string; commands: Command[] }[] = [
  { title: 'Log in', commands: [login, tokenSet, whoami, logout] },
  { title: 'Projects and apps', commands: [projectsList, projectsCreate, projectsPause, projectsResume, projectsCreditCap, projectsPriorityCap, appsCreate, appsUpload, appsShow, appsRetire] },
  { title: 'Batches', commands: [submit, batchesList, status, wait, results, cancel, errors, retry, pin, archive] },
  { title: "On the coordinator's machine", commands: [createAccount, resetPassword, initKey, backup, restore, verify] },
];
export const COMMANDS = GROUPS.flatMap((g) => g.commands);
