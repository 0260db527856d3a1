/** The version of parley, as `--version` prints it and `ready` reports. */
export const VERSION = "0.1.0";
