"""ads-actions: the Faust application that routes ADS events to actions.

The pure core (configuration, IP filters, perspectives, event parsing, routing) has no I/O and
no Faust import, so it is tested without a broker; ``streams.app`` and ``streams.router`` wire it
to Kafka.
"""
