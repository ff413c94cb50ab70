"""Selling packs: purchase invoices, paying them (balance, bank transfer, online payment) and
delivering what was bought once the invoice is paid. Above invoicing, below payments."""
