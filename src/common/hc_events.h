/* hc_events: the name of every event on the bus, one constant each, so that
 * the path from a producer to its consumers can be followed by name. Who
 * produces and who consumes each is in docs/contract.md. */
#ifndef HC_EVENTS_H
#define HC_EVENTS_H

/* Order: one event per status change of a booking, each carrying the order's
 * version and its whole status history (order owns the booking's status). */
#define HC_EV_ORDERED "Ordered"                /* PAID */
#define HC_EV_ORDER_REQUESTED "OrderRequested" /* REQUESTED: the center has it */
#define HC_EV_ORDER_CONFIRMED "OrderConfirmed" /* CONFIRMED by the center's admin */
#define HC_EV_ORDER_REJECTED "OrderRejected"   /* REJECTED: full, or by the admin */
#define HC_EV_ORDER_CANCELED "OrderCanceled"   /* CANCELED by the customer, refunded */
#define HC_EV_ORDER_FAILED "OrderFailed"       /* FAILED: declined or outcome unknown */

/* Payment: facts about money. */
#define HC_EV_PAYMENT_APPROVED "PaymentApproved"
#define HC_EV_PAYMENT_CANCELED "PaymentCanceled" /* refunded or voided */

/* Reservation: facts about the center's capacity and admin decisions. */
#define HC_EV_RESERVATION_ACCEPTED "ReservationAccepted" /* a place was taken */
#define HC_EV_RESERVATION_CONFIRMED "ReservationConfirmed"
#define HC_EV_RESERVATION_REJECTED "ReservationRejected" /* no place, or the admin's */
#define HC_EV_RESERVATION_CANCELED "ReservationCanceled" /* its place was released */

#endif
