import ts from 'typescript';

/** One module reference of a source file, as the TypeScript parser sees it. */
export interface ImportRef {
  /** The module specifier, as written ('../model/types.js', 'zx'). */
  spec: string;
  /** True when it brings in types only (erased at run time, but still a dependency for the compiler). */
  typeOnly: boolean;
  /** 1-based line of the reference, for messages. */
  line: number;
}

/** A clause is type-only when it says `import type`, or names only `type` bindings and nothing else. */
function typeOnlyClause(c: ts.ImportClause | undefined): boolean {
  if (!c) return false; // `import './x.js'` runs the module
  if (c.isTypeOnly) return true;
  const named = c.namedBindings;
  return (
    !c.name &&
    !!named &&
    ts.isNamedImports(named) &&
    named.elements.length > 0 &&
    named.elements.every((e) => e.isTypeOnly)
  );
}

/** A re-export is type-only when it says `export type`, or re-exports only `type` names. */
function typeOnlyExport(n: ts.ExportDeclaration): boolean {
  if (n.isTypeOnly) return true;
  const c = n.exportClause;
  return !!c && ts.isNamedExports(c) && c.elements.length > 0 && c.elements.every((e) => e.isTypeOnly);
}

/**
 * Every module reference of a source text: import and export-from declarations (side-effect ones
 * too), `import x = require()`, dynamic `import()`, `require()` and `import('m').T` types. Read
 * with the parser, so a specifier on another line than `import` is seen as well.
 */
export function importsOf(src: string, file = 'x.ts'): ImportRef[] {
  const sf = ts.createSourceFile(file, src, ts.ScriptTarget.Latest, true);
  const out: ImportRef[] = [];
  const add = (spec: ts.Node, typeOnly: boolean) => {
    if (ts.isStringLiteralLike(spec))
      out.push({ spec: spec.text, typeOnly, line: sf.getLineAndCharacterOfPosition(spec.getStart(sf)).line + 1 });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n)) add(n.moduleSpecifier, typeOnlyClause(n.importClause));
    else if (ts.isExportDeclaration(n) && n.moduleSpecifier) add(n.moduleSpecifier, typeOnlyExport(n));
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference))
      add(n.moduleReference.expression, n.isTypeOnly);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) add(n.argument.literal, true);
    else if (
      ts.isCallExpression(n) &&
      n.arguments.length > 0 &&
      (n.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(n.expression) && n.expression.text === 'require'))
    ) {
      add(n.arguments[0], false);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The specifiers of a source text that load code at run time (type-only references left out). */
export function valueImports(src: string, file = 'x.ts'): string[] {
  return importsOf(src, file)
    .filter((i) => !i.typeOnly)
    .map((i) => i.spec);
}
