/* `ttvm replay`: the command. */
#ifndef TTVM_REPLAY_REPLAY_CMD_H
#define TTVM_REPLAY_REPLAY_CMD_H

/* `ttvm replay [--serial FILE] [--from EVENT] [--gdb [HOST:]PORT] [-v] TRACE`
 * (argv[0] = "replay"); returns the exit status. */
int replay_main(int argc, char **argv);

#endif
