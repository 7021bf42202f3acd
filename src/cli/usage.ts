// --help output as a terminal or a pipe wants it: citty colours and pads every line to the widest one; colour stays
// only when stdout is a terminal and NO_COLOR is unset (no-color.org), and no line ends in padding.

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[0-9;]*m/g;

export function plainUsage(text: string, color = process.stdout.isTTY === true && !process.env.NO_COLOR): string {
  const lines = (color ? text : text.replace(ANSI, "")).split("\n");
  return lines.map((l) => l.replace(/[ \t]+(\u001B\[[0-9;]*m)*$/, "$1")).join("\n");
}
