/* National Semiconductor 16550A UART (8 ports), as wired on a PC: the
 * interrupt reaches the PIC only while MCR.OUT2 is set.
 *
 * Transmission is instant (THR and the shift register are always empty) and
 * every byte goes to the tx callback; the host feeds input with
 * uart_rx_push(), never more than uart_rx_room() accepts. */
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
/* Free space in the RX FIFO (1 byte deep while FIFOs are off; 0 in loopback). */
size_t uart_rx_room(struct uart *u);

#endif
