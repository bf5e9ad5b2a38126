/**
 * The users of a reconcile step (missing or profiled), a batch at a time. A batch is one write
 * over the next keyset page, the store choosing the page's users (`syncPage`); a dry run reads the
 * page and previews it instead. A row the profile table refuses fails the whole batch, so the
 * batch is then done one user at a time: the others still land, and each refusal is reported with
 * its user. Any other error stops the caller.
 */
import { ProblemError } from '../errors/problems.ts';
import type { AuthUser } from '../sync/auth-user.ts';
import type { SyncAction, SyncEngine } from '../sync/engine.ts';
import type { Paged, ProfileStore, UserStep, WriteContext } from '../sync/profile-store.ts';
import { prefetchedPages } from './pages.ts';

/** A refusal of one row (422, 409): it stops that row, not the run. */
export const isRowRefusal = (error: unknown): error is ProblemError =>
  error instanceof ProblemError && (error.code === 'profile_rejected' || error.code === 'profile_conflict');

/** What a batch did to each of its users; null for a user that is no longer live. */
type Run = (batch: readonly AuthUser[]) => Promise<({ action: SyncAction } | null)[]>;
type OnRefusal = (user: AuthUser, error: ProblemError) => void;

/** Each user in a write of its own, so a refusal stops only its own row. */
async function runOneByOne(users: readonly AuthUser[], run: Run, onAction: (action: SyncAction) => void, onRefusal: OnRefusal): Promise<void> {
  for (const user of users) {
    try {
      for (const outcome of await run([user])) if (outcome) onAction(outcome.action);
    } catch (rowError) {
      if (!isRowRefusal(rowError)) throw rowError;
      onRefusal(user, rowError);
    }
  }
}

export interface StepRun {
  step: UserStep;
  /** Where a resumed run starts (the last id handled); null for the beginning. */
  cursor: string | null;
  limit: number;
  /** Previews instead of writing (through pages read into the process). */
  dryRun: boolean;
  context: WriteContext;
  /** `count` users met `action`. */
  onAction: (action: SyncAction, count: number) => void;
  onRefusal: OnRefusal;
  /** After each batch, all its users handled: how many it held, and where the next begins. */
  afterBatch: (handled: number, nextCursor: string | null) => Promise<void>;
}

/** Runs a reconcile step over all its users, a batch (a keyset page) at a time. */
export async function runStep(profiles: ProfileStore, engine: SyncEngine, run: StepRun): Promise<void> {
  const { step, limit, context } = run;
  const read = (cursor: string | null): Promise<Paged<AuthUser>> =>
    step === 'missing' ? profiles.missingAuthUsers({ cursor, limit }) : profiles.profiledAuthUsers({ cursor, limit });
  const onAction = (action: SyncAction) => run.onAction(action, 1);

  if (run.dryRun) {
    const preview: Run = (batch) => engine.previewUsers(batch);
    for await (const { items, nextCursor } of prefetchedPages(read, run.cursor)) {
      try {
        for (const outcome of await preview(items)) if (outcome) onAction(outcome.action);
      } catch (error) {
        if (!isRowRefusal(error)) throw error;
        await runOneByOne(items, preview, onAction, run.onRefusal);
      }
      await run.afterBatch(items.length, nextCursor);
    }
    return;
  }

  // One write per page, which reads the page it writes: nothing to read ahead, since where the
  // next page starts is known only once this one is written.
  for (let cursor = run.cursor; ; ) {
    let handled: number;
    let nextCursor: string | null;
    try {
      const synced = await engine.syncPage(step, { cursor, limit }, context);
      for (const action of ['created', 'updated', 'unchanged'] as const) if (synced[action] > 0) run.onAction(action, synced[action]);
      ({ handled, nextCursor } = synced);
    } catch (error) {
      if (!isRowRefusal(error)) throw error;
      // The write changed nothing: the same page, read again, one user at a time.
      const page = await read(cursor);
      await runOneByOne(page.items, (batch) => engine.syncUsers(batch.map((user) => user.id), context), onAction, run.onRefusal);
      ({ nextCursor } = page);
      handled = page.items.length;
    }
    await run.afterBatch(handled, nextCursor);
    if (nextCursor === null) return;
    cursor = nextCursor;
  }
}
