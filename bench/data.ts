/** Database-heavy benchmarks: listing pages, the reconcile, its memory. (To be written.) */
import type { Section } from './lib/section.ts';

export const sections: Record<string, Section> = {};
