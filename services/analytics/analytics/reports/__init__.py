"""Field reports and booth WhatsApp groups, counted per unit and period."""
