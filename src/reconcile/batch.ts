/**
 * One batch of users, synced (or previewed) in one statement. A row the profile table refuses
 * fails the whole statement, so the batch is then done one user at a time: the others still land,
 * and each refusal is reported with its user. Any other error stops the caller.
 */
import { ProblemError } from '../errors/problems.ts';
import type { AuthUser } from '../sync/auth-user.ts';
import type { SyncAction } from '../sync/engine.ts';

/** A refusal of one row (422, 409): it stops that row, not the run. */
export const isRowRefusal = (error: unknown): error is ProblemError =>
  error instanceof ProblemError && (error.code === 'profile_rejected' || error.code === 'profile_conflict');

export async function runBatch(
  users: readonly AuthUser[],
  run: (batch: readonly AuthUser[]) => Promise<{ action: SyncAction }[]>,
  onAction: (action: SyncAction) => void,
  onRefusal: (user: AuthUser, error: ProblemError) => void,
): Promise<void> {
  try {
    for (const outcome of await run(users)) onAction(outcome.action);
  } catch (error) {
    if (!isRowRefusal(error)) throw error;
    for (const user of users) {
      try {
        for (const outcome of await run([user])) onAction(outcome.action);
      } catch (rowError) {
        if (!isRowRefusal(rowError)) throw rowError;
        onRefusal(user, rowError);
      }
    }
  }
}
