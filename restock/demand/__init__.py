"""What learns sales: the true demand the simulator's customers follow (generator), the sales-log
CSV format (saleslog), and the learned demand model with censoring and uncertainty (model)."""
