/* libFuzzer target over the machine-state checker (vm_state_check: the
 * framing, the checksum, every record and the device models' loads).
 * Input: one mode byte, then the blob.  Mode bit 0 set: the harness appends
 * a valid END record (hash included), so mutations get past the checksum
 * and reach the records and device states; clear: the bytes as they are. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/snapshot.h"
#include "storage/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];

	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if (!(mode & 1)) {
		vm_state_check(data, size, err, sizeof(err));
		return 0;
	}
	uint8_t *b = malloc(size + 16);
	if (!b)
		return 0;
	memcpy(b, data, size);
	uint32_t end[2] = { VM_STATE_END, 8 };
	uint64_t h = hash64(b, size);
	memcpy(b + size, end, 8);
	memcpy(b + size + 8, &h, 8);
	vm_state_check(b, size + 16, err, sizeof(err));
	free(b);
	return 0;
}
