/**
 * The logs view's pure parts: a line's level (for its colour), whether to follow the bottom, the
 * buffer cap, and the resume point after a reconnect (`since=` the last line's time, skipping the
 * lines at that instant the view already has: the kubelet's sinceTime is inclusive).
 */

export type Level = "error" | "warn" | "info" | "plain";

const LEVELS: [Level, RegExp][] = [
  [
    "error",
    /\b(ERROR|ERR|FATAL|CRITICAL|PANIC|Traceback)\b|\[(E|error)[\] ]|\blevel=(error|fatal)\b|"level":"(error|fatal)"/i,
  ],
  ["warn", /\b(WARN|WARNING)\b|\[(W|warn)[\] ]|\blevel=warn(ing)?\b|"level":"warn(ing)?"/i],
  ["info", /\bINFO\b|\[(I|info)[\] ]|\blevel=info\b|"level":"info"/i],
];

/** The level a log line names (the first match, most severe first); plain when none. */
export function classify(text: string): Level {
  for (const [level, re] of LEVELS) if (re.test(text)) return level;
  return "plain";
}

/** Lines closer than this to the bottom count as "at the bottom": keep following. */
const BOTTOM_SLACK_PX = 24;

/** Whether the view follows new lines: only when the user has not scrolled up. */
export function atBottom(scrollTop: number, clientHeight: number, scrollHeight: number): boolean {
  return scrollHeight - (scrollTop + clientHeight) <= BOTTOM_SLACK_PX;
}

/** Lines the view keeps; older ones are dropped (the browser stays small on a chatty pod). */
export const MAX_LINES = 5000;

export interface LogLine {
  text: string;
  time: string;
  level: Level;
  /** Stable key for rendering. */
  seq: number;
}

/** Where a reconnect resumes: the last line's time, and the texts already shown at that instant. */
export interface Resume {
  since?: string;
  atSince: string[];
}

export const noResume = (): Resume => ({ atSince: [] });

/**
 * Takes a line from the server: undefined when it is a repeat after a resume (same instant, a text
 * already shown at it, or earlier), else the line and the new resume point.
 */
export function acceptLine(resume: Resume, text: string, time: string): Resume | undefined {
  if (resume.since && time) {
    if (time < resume.since) return undefined;
    if (time === resume.since) {
      if (resume.atSince.includes(text)) return undefined;
      return { since: time, atSince: [...resume.atSince, text] };
    }
  }
  return time ? { since: time, atSince: [text] } : resume;
}

/** Appends and caps the buffer. */
export function appendCapped<T>(lines: readonly T[], add: readonly T[], max = MAX_LINES): T[] {
  const all = lines.concat(add);
  return all.length > max ? all.slice(all.length - max) : all;
}
