/** Database-heavy benchmarks: listing pages, the reconcile, its memory. */
import { missingPages } from './lib/missing-pages.ts';
import { reconcileMemory } from './lib/reconcile-memory.ts';
import { reconcileTime } from './lib/reconcile-time.ts';
import type { Section } from './lib/section.ts';

export const sections: Record<string, Section> = {
  'missing-pages': missingPages,
  reconcile: reconcileTime,
  'reconcile-memory': reconcileMemory,
};
