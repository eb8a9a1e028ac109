/* Patch traps (core/ptrap.h): the set itself.  Patching guest memory is
 * ptrap_patch.c (kept apart so that the machine-state fuzz target links
 * without the vCPU). */
#include "core/ptrap.h"

#include <errno.h>
#include <string.h>


static struct ptrap *find(struct ptrap_set *s, uint64_t addr)
{
	for (unsigned i = 0; i < PTRAP_MAX; i++)
		if (s->t[i].owners && s->t[i].addr == addr)
			return &s->t[i];
	return NULL;
}

int ptrap_add(struct ptrap_set *s, uint64_t addr, unsigned owner)
{
	struct ptrap *t = find(s, addr);

	if (!t) {
		for (unsigned i = 0; i < PTRAP_MAX && !t; i++)
			if (!s->t[i].owners && !s->t[i].on)
				t = &s->t[i];
		if (!t)
			return -ENOSPC;
		memset(t, 0, sizeof(*t));
		t->addr = addr;
	}
	t->owners |= (uint8_t)owner;
	return 0;
}

void ptrap_del(struct ptrap_set *s, uint64_t addr, unsigned owner)
{
	struct ptrap *t = find(s, addr);

	if (t)
		t->owners &= (uint8_t)~owner;
}

void ptrap_clear(struct ptrap_set *s, unsigned owner)
{
	for (unsigned i = 0; i < PTRAP_MAX; i++)
		s->t[i].owners &= (uint8_t)~owner;
}

bool ptrap_has(const struct ptrap_set *s, uint64_t addr, unsigned owner)
{
	for (unsigned i = 0; i < PTRAP_MAX; i++)
		if ((s->t[i].owners & owner) && s->t[i].addr == addr)
			return true;
	return false;
}

unsigned ptrap_count(const struct ptrap_set *s, unsigned owner)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PTRAP_MAX; i++)
		n += (s->t[i].owners & owner) != 0;
	return n;
}

