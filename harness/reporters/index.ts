import type { Reporter } from './reporter.js';
import { allureReporter } from './allure.js';
import { junitReporter } from './junit.js';
import { markdownReporter } from './markdown.js';

/** The reporters every gate and `headgate report` run (console output is printed by the CLI). */
export const defaultReporters: Reporter[] = [markdownReporter, junitReporter, allureReporter];
export { renderAll } from './reporter.js';
