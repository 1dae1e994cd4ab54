/** An error in how a pipeline is declared or invoked: reported as its message, without a stack. */
export class PipelineError extends Error {
  override name = "PipelineError";
}
