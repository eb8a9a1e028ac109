file pioread.elf64
target remote 127.0.0.1:@PORT@
python import os, signal, threading; threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
continue
monitor when
info registers rip
