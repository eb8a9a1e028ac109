# gdb alone on a test guest's ELF64 (it keeps the symbols and DWARF): proves
# that gdb, its libraries, its data directory and its Python start on this
# host and read a guest the way the stub's tests will.
file @GUEST@
info address main
info line main
ptype struct mb_module
print sizeof(struct mb_module)
x/1i main
python print("python: main is in", gdb.lookup_global_symbol("main").symtab.filename.split("/")[-1])
show architecture
