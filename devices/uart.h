/* National Semiconductor 16550A UART (8 ports), as wired on a PC: the
 * interrupt reaches the PIC only while MCR.OUT2 is set.
 *
 * Transmission is instant (THR and the shift register are always empty) and
 * every byte goes to the tx callback; the host feeds input with
 * uart_rx_push(), never more than uart_rx_room() accepts.  Input is paced:
 * the room stays 0 until the guest first enables the received-data
 * interrupt (IER bit 0) or reads LSR while the receiver is empty outside
 * loopback, so that a driver's start-up (FIFO clear, loopback test, drain)
 * does not eat input that a file or pipe had ready at once. */
#ifndef TTVM_DEVICES_UART_H
#define TTVM_DEVICES_UART_H
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"

typedef void (*uart_tx_fn)(void *opaque, uint8_t byte);

struct uart;

/* New UART after a hardware reset, or NULL on ENOMEM; tx may be NULL. */
struct uart *uart_new(struct irq_line irq, uart_tx_fn tx, void *tx_opaque);
/* Free the UART; NULL is ignored. */
void uart_free(struct uart *u);
/* Claim ports [base, base+8); 0 or -errno. */
int uart_attach(struct uart *u, struct bus *bus, uint16_t base);
/* Put up to n received bytes into the RX FIFO; returns how many fitted
 * (0 in loopback mode, where the serial input is disconnected). */
size_t uart_rx_push(struct uart *u, const uint8_t *buf, size_t n);
/* Empty the RX FIFO (received bytes the guest has not read are lost) and
 * update the interrupt line: replay --go-live, where the live input takes
 * the place of what the recording had received. */
void uart_rx_drop(struct uart *u);
/* Free space in the RX FIFO (1 byte deep while FIFOs are off; 0 in loopback
 * and until the guest first looks for input, as above). */
size_t uart_rx_room(struct uart *u);

/* Everything a snapshot needs (core/snapshot.c stores it as raw bytes: a
 * change of layout is a change of the snapshot format). */
struct uart_state {
	uint8_t rx[16];
	uint8_t rx_head, rx_count, ier, lcr;
	uint8_t mcr, scr, fcr, lsr_err;
	uint8_t msr_delta, msr_lines, thri, irq_level;
	uint16_t divisor;
	uint8_t rx_open, pad;
};
/* Copy the UART's state out. */
void uart_save(const struct uart *u, struct uart_state *s);
/* Take over s (the IRQ line is not driven: the PIC's state comes with its
 * own snapshot).  0, or -EINVAL with u unchanged when s is inconsistent. */
int uart_load(struct uart *u, const struct uart_state *s);

#endif
