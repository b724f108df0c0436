#!/usr/bin/env node
// The native `solc` command line, served by solc-js (the official compiler built to WebAssembly).
//
// Why: compiler binaries cannot be downloaded here, and no native solc is in the package
// registries. py-solc-x, ape-solidity, forge and slither all drive a native-solc command line,
// so this adapter offers the part of it they use:
//   solc --version
//   solc --standard-json [input.json] [--base-path P] [--include-path P]... [--allow-paths P,Q]
// The standard-JSON input is read from stdin when no file is given. Imports that are not in the
// input are read from disk the way native solc resolves them: the base path (or the working
// directory), then each include path, and only inside the allowed directories.
// solc-js's own CLI is not used: it prints a non-JSON line on stdout, and exiting before stdout
// drains truncates large outputs, so we call the JS API and let node exit once stdout is flushed.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const USAGE = "usage: solc --version | solc --standard-json [file] [--base-path P] [--include-path P] [--allow-paths P,...]";

function fail(message) {
  process.stderr.write(`solc-adapter: ${message}\n${USAGE}\n`);
  process.exitCode = 1;
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, inputFile: null, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, null];
    const value = () => {
      if (inline !== null) return inline;
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case "--version": opts.version = true; break;
      case "--standard-json": opts.standardJson = true; break;
      case "--base-path": opts.basePath = path.resolve(value()); break;
      case "--include-path": opts.includePaths.push(path.resolve(value())); break;
      case "--allow-paths": opts.allowPaths.push(...value().split(",").filter(Boolean).map((p) => path.resolve(p))); break;
      // Accepted for compatibility; with standard JSON, output selection lives in the input.
      case "--pretty-json": case "--no-color": break;
      default:
        if (flag.startsWith("-")) throw new Error(`unsupported option ${flag}`);
        if (opts.inputFile) throw new Error(`only one standard-JSON input file is supported, got ${flag}`);
        opts.inputFile = path.resolve(flag);
    }
  }
  return opts;
}

function nativeVersion() {
  // Native builds print e.g. "0.8.30+commit.73712a01.Linux.g++"; tools parse the leading x.y.z+commit.
  return solc.version().replace(/\.Emscripten\.clang$/, ".Linux.g++");
}

function isInside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function makeImportCallback(opts) {
  const root = opts.basePath || process.cwd();
  const allowed = [root, ...opts.includePaths, ...opts.allowPaths];
  if (opts.inputFile) allowed.push(path.dirname(opts.inputFile));
  return function findImport(sourceUnitName) {
    const candidates = path.isAbsolute(sourceUnitName)
      ? [sourceUnitName]
      : [root, ...opts.includePaths].map((dir) => path.join(dir, sourceUnitName));
    for (const candidate of candidates) {
      const file = path.resolve(candidate);
      if (!fs.existsSync(file) || !fs.statSync(file).isFile()) continue;
      if (!allowed.some((dir) => isInside(file, dir))) {
        return { error: `${file} is outside the allowed directories (${allowed.join(", ")})` };
      }
      return { contents: fs.readFileSync(file, "utf8") };
    }
    return { error: `File not found: ${sourceUnitName} (searched ${candidates.join(", ")})` };
  };
}

function readInput(opts) {
  return opts.inputFile ? fs.readFileSync(opts.inputFile, "utf8") : fs.readFileSync(0, "utf8");
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    return fail(err.message);
  }
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${nativeVersion()}\n`);
    return;
  }
  if (!opts.standardJson) return fail("only --version and --standard-json are supported");
  const output = solc.compile(readInput(opts), { import: makeImportCallback(opts) });
  // No process.exit(): node exits after stdout has drained, so large outputs arrive whole.
  process.stdout.write(output + "\n");
}

main();
