/* `ttvm inspect TRACE [--events [FROM[:TO]]] [--kind K[,K...]] [--json]`:
 * print a trace's summary (metadata, counts per event kind, chunks,
 * checkpoints, bytes per event, compression ratio, end) or list its events. */
#ifndef TTVM_STORAGE_INSPECT_H
#define TTVM_STORAGE_INSPECT_H

/* Run the inspect command; argv[0] is "inspect".  Output on stdout, errors on
 * stderr.  Returns the exit status: 0, 1 for a bad or damaged trace, 2 for a
 * usage error. */
int inspect_main(int argc, char **argv);

#endif
