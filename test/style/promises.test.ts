// Promises nobody waits for: the store is asynchronous, and a call that forgot its `await`
// type-checks in places TypeScript cannot see through (a statement on its own, a condition, a
// comparison with undefined, an argument typed unknown), where it silently does the wrong thing:
// a check that always passes, a write that races the commit. This walks the program with the
// type checker and names each one.
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHECKED = ['coordinator/', 'cli/', 'common/', 'volunteer-core/', 'volunteer-node/', 'app-runtime/', 'protocol/', 'bench/'];

function findings(): string[] {
  const configPath = join(ROOT, 'tsconfig.json');
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram(config.fileNames, config.options);
  const checker = program.getTypeChecker();
  const isPromise = (node: ts.Node): boolean => {
    const t = checker.getTypeAtLocation(node);
    return t.symbol?.name === 'Promise' || (t.isUnion() && t.types.every((u) => u.symbol?.name === 'Promise'));
  };
  const mayBePromise = (node: ts.Node): boolean => {
    const t = checker.getTypeAtLocation(node);
    return t.symbol?.name === 'Promise' || (t.isUnion() && t.types.some((u) => u.symbol?.name === 'Promise'));
  };
  const out: string[] = [];
  for (const sf of program.getSourceFiles()) {
    const file = relative(ROOT, sf.fileName);
    if (sf.isDeclarationFile || !CHECKED.some((d) => file.startsWith(d))) continue;
    const report = (node: ts.Node, what: string) => {
      const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
      out.push(`${file}:${line + 1}: ${what}: ${node.getText().replace(/\s+/g, ' ').slice(0, 90)}`);
    };
    const handled = (e: ts.Expression): boolean => {
      // Stored, voided, awaited, or its rejection handled: someone answers for it.
      if (ts.isAwaitExpression(e) || ts.isVoidExpression(e) || ts.isBinaryExpression(e)) return true;
      if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression)) {
        const name = e.expression.name.text;
        if (name === 'catch' || (name === 'then' && e.arguments.length === 2)) return true;
        if (name === 'finally') return handled(e.expression.expression);
      }
      return false;
    };
    const visit = (node: ts.Node): void => {
      if (ts.isExpressionStatement(node) && isPromise(node.expression) && !handled(node.expression)) report(node, 'a Promise nobody waits for');
      if ((ts.isIfStatement(node) || ts.isWhileStatement(node) || ts.isDoStatement(node)) && isPromise(node.expression)) report(node.expression, 'a condition on a Promise');
      if (ts.isConditionalExpression(node) && isPromise(node.condition)) report(node.condition, 'a condition on a Promise');
      if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken && isPromise(node.operand)) report(node, 'a Promise negated');
      if (ts.isBinaryExpression(node)) {
        const op = node.operatorToken.kind;
        const logical = op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken;
        const equality = [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken].includes(op);
        if (logical && isPromise(node.left)) report(node.left, 'a condition on a Promise');
        // Comparing two promises is identity; comparing one with a value is a forgotten await.
        if (equality && mayBePromise(node.left) !== mayBePromise(node.right)) report(node, 'a Promise compared with a value');
      }
      if (ts.isTemplateSpan(node) && isPromise(node.expression)) report(node.expression, 'a Promise in a string');
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}

it('no code leaves a Promise unawaited where it means its value', () => {
  expect(findings()).toEqual([]);
}, 120_000);
