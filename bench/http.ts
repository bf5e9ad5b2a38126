/** HTTP benchmarks: the service's routes against a bare Fastify server. (To be written.) */
import type { Section } from './lib/section.ts';

export const sections: Record<string, Section> = {};
