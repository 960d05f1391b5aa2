"""Delivery channels: one module per channel (SMTP, syslog, SNMP, script, capture) behind one small
sink interface, each consuming its ``ads.action.<kind>`` topic of RoutedAction messages.

The design (docs/architecture.md) follows Alertmanager's notify/ package and quixstreams'
sinks/base: a pipeline of small stages around every sink (mute, dedup per action and event ID,
retry with backoff, dead letter), formatting as pure functions of (event, settings), I/O in the
sink. The channels themselves land with the issues that specify them.
"""
