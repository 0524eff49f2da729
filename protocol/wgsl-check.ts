/**
 * A cheap structural check of a developer's WGSL source, run where a job is submitted. It is not
 * a compiler (the contributor's WebGPU implementation compiles the shader and reports errors); it
 * catches what is plainly wrong before anyone pays for a task: an empty source, no compute entry
 * point of the given name, unbalanced brackets, or an unterminated block comment.
 */

/** WGSL identifiers (WGSL §3.7 "Identifiers", ASCII subset), not starting with `__`. */
export const WGSL_IDENTIFIER = /^(?!__)[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Returns why `source` cannot be a compute shader with entry point `entry`, or `null`. */
export function checkWgslSource(source: string, entry: string): string | null {
  if (source.trim() === "") return "source is empty";
  const code = stripComments(source);
  if (code === null) return "unterminated block comment";
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  const stack: string[] = [];
  for (const ch of code) {
    if (ch === "(" || ch === "[" || ch === "{") stack.push(ch);
    else if (ch === ")" || ch === "]" || ch === "}") {
      if (stack.pop() !== pairs[ch]) return `unbalanced '${ch}'`;
    }
  }
  if (stack.length > 0) return `unclosed '${stack[stack.length - 1]}'`;
  if (!/@\s*compute\b/.test(code)) return "no @compute entry point";
  if (!WGSL_IDENTIFIER.test(entry)) return `entry point '${entry}' is not a WGSL identifier`;
  // Attributes sit right before `fn` and may come in any order (`@compute @workgroup_size(64)`).
  const fn = new RegExp(
    `((?:@\\s*[A-Za-z_]\\w*\\s*(?:\\([^()]*\\))?\\s*)*)\\bfn\\s+${entry}\\s*\\(`,
  );
  const match = fn.exec(code);
  if (!match) return `no function named '${entry}'`;
  if (!/@\s*compute\b/.test(match[1] ?? "")) return `function '${entry}' is not marked @compute`;
  return null;
}

/**
 * Removes `// line` and `/* block *\/` comments (block comments nest in WGSL, §3.4) so brackets
 * and attributes inside comments do not count. Returns `null` for an unterminated block comment.
 */
function stripComments(source: string): string | null {
  let out = "";
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const two = source.slice(i, i + 2);
    if (depth === 0 && two === "//") {
      while (i < source.length && source[i] !== "\n") i++;
      out += "\n";
    } else if (two === "/*") {
      depth++;
      i++;
    } else if (depth > 0 && two === "*/") {
      depth--;
      i++;
      if (depth === 0) out += " ";
    } else if (depth === 0) out += source[i];
  }
  return depth === 0 ? out : null;
}
