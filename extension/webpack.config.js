// Merged by @jupyter/builder into its own configuration (package.json "jupyterlab.webpackConfig").
//
// The committed bundle must come out byte for byte the same wherever the repository is
// cloned, so that CI can rebuild it and compare. Rspack's default "deterministic" module ids
// hash each module's identifier, and a module-federation module's identifier holds an
// absolute path: a consume-shared module names its fallback
// (".../extension/node_modules/@dagrejs/dagre/index.js"), the provide-shared module its
// import (".../extension/lib/index.js"). Built in another folder, those ids change, and with
// them the chunks' contents, their content hashes and the names of the files. "named" ids
// are the modules' paths relative to this folder (and "webpack/sharing/consume/default/<pkg>"
// for shared modules): nothing absolute. Chunk ids stay "deterministic": they hash those
// relative names.
module.exports = {
  optimization: {
    moduleIds: 'named',
    chunkIds: 'deterministic'
  }
};
